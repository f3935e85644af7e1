# featurestore: every entry point is a make target (`make help` lists them).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
REPO ?= demo_work/driver_repo
END ?= now
ENTITIES ?= driver_entities
FEATURE_SERVICE ?= driver_ranking
OUTPUT ?= driver_training_set
PYTEST_ARGS ?=
REDIS_PORT ?= 6390
WORKERS ?= 1
MASTER ?=
METASTORE_PORT ?= 1527
SPARK_CONNECT_PORT ?= 15002

# Spark 4 needs Java 17 or 21: use the first such JDK found unless JAVA_HOME already is one.
JAVA_HOME := $(shell $(PYTHON) scripts/find_java.py)
export JAVA_HOME
export PATH := $(JAVA_HOME)/bin:$(PATH)
export TZ := UTC
export PYSPARK_PYTHON := $(abspath $(PY))

JARS_DIR := jars
# Derby network server and client for a metastore several processes share; the same version as
# pyspark's bundled derby (featurestore.runtime.metastore.DERBY_VERSION, checked by tests/spark/test_metastore.py).
DERBY_VERSION := 10.16.1.1
# PostgreSQL's JDBC driver, for a Hive metastore in PostgreSQL (featurestore.runtime.metastore.POSTGRES_JDBC)
POSTGRES_JDBC := org.postgresql:postgresql:42.7.14
POSTGRES_PORT ?= 5433
KAFKA_PORT ?= 9092
SPARK_JAR_COORDS := $(shell grep -v '^\#' spark_conf/spark-jars.txt | grep -v '^$$')
SPARK_SUBMIT = $(VENV)/bin/spark-submit --properties-file spark_conf/spark-defaults.conf \
	--jars $(shell ls $(JARS_DIR)/*.jar 2>/dev/null | paste -sd, -) \
	--driver-class-path $(JARS_DIR)/derby/derbyclient-$(DERBY_VERSION).jar:$(wildcard $(JARS_DIR)/postgres/postgresql-*.jar) \
	--conf spark.driver.extraJavaOptions="-Duser.timezone=UTC -Dlog4j.configurationFile=$(abspath spark_conf/log4j2.properties)"

.PHONY: help setup demo notebook test test-unit lint bench bench-tools soak training-set materialize serve proto redis-up redis-down cluster-up \
	cluster-down metastore-up metastore-down metastore-status postgres-up postgres-down kafka-up kafka-down spark-up spark-down clean

help: ## list the targets and the variables they take
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'
	@echo "Variables: REPO=$(REPO) (feature repo), END=$(END) (materialization end), ENTITIES=$(ENTITIES),"
	@echo "           FEATURE_SERVICE=$(FEATURE_SERVICE), OUTPUT=$(OUTPUT) (training-set table), PYTEST_ARGS=,"
	@echo "           REDIS_PORT=$(REDIS_PORT), BENCH_ARGS= (e.g. --quick), MASTER= (e.g. spark://127.0.0.1:7077),"
	@echo "           METASTORE_PORT=$(METASTORE_PORT), SPARK_CONNECT_PORT=$(SPARK_CONNECT_PORT), WORKERS=$(WORKERS) (serve),"
	@echo "           SOAK_ARGS= (e.g. --minutes 1 --store redis)"

setup: $(VENV)/.installed jars/.fetched jars/derby/.fetched jars/postgres/.fetched jars/kafka-broker/.fetched ## venv, packages (test, redis, postgres extras), Spark's jars (Delta, Kafka, Avro), Derby, PostgreSQL JDBC, a Kafka broker

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,redis,postgres,dev]'
	touch $@

jars/.fetched: spark_conf/spark-jars.txt
	mkdir -p $(JARS_DIR)
	for coord in $(SPARK_JAR_COORDS); do \
		mvn -q -B dependency:copy -Dartifact=$$coord -DoutputDirectory=$(JARS_DIR) || exit 1; \
	done
	touch $@

jars/derby/.fetched: Makefile
	mkdir -p $(JARS_DIR)/derby
	for artifact in derbynet derbyclient; do \
		mvn -q -B dependency:copy -Dartifact=org.apache.derby:$$artifact:$(DERBY_VERSION) \
			-DoutputDirectory=$(JARS_DIR)/derby || exit 1; \
	done
	touch $@

# Kafka's broker (KRaft) for the KafkaSource tests and benchmark: kafka_2.13 and its dependencies
jars/kafka-broker/.fetched: scripts/kafka-broker-pom.xml
	rm -rf $(JARS_DIR)/kafka-broker
	mvn -q -B -f scripts/kafka-broker-pom.xml dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory=$(abspath $(JARS_DIR))/kafka-broker || exit 1
	touch $@

jars/postgres/.fetched: Makefile
	mkdir -p $(JARS_DIR)/postgres
	mvn -q -B dependency:copy -Dartifact=$(POSTGRES_JDBC) -DoutputDirectory=$(JARS_DIR)/postgres || exit 1
	touch $@

demo: setup ## set up, then walk the driver-ranking flow on the embedded default (Spark warehouse + SQLite)
	REPO=$(REPO) $(PY) scripts/demo.py --work-dir $(dir $(REPO)) --repo-name $(notdir $(REPO))

notebook: setup ## open the notebooks in Jupyter (installed into the venv on first use), on REPO's repo
	$(PY) -c "import notebook" 2>/dev/null || $(PY) -m pip install -q -e '.[notebook]'
	FEATURESTORE_REPO=$(abspath $(REPO)) $(VENV)/bin/jupyter notebook --notebook-dir notebooks --ip 127.0.0.1

test: setup ## set up, then run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup ## the half without a JVM (tests/unit): definitions, registry, online stores, CLI input
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: setup ## static checks: ruff, the generated protobuf code matches the .proto files, no import cycle
	$(VENV)/bin/ruff check featurestore jobs tests scripts benchmarks examples notebooks
	$(PY) scripts/check_protos.py
	$(PY) scripts/check_imports.py

bench: setup bench-tools ## print the benchmark figures
	$(PY) -m benchmarks.run $(BENCH_ARGS)

bench-tools: ## the load generator the serving benchmark drives (Debian's wrk) and redis-server
	scripts/debian_install.sh wrk wrk redis-server redis-server

soak: setup ## 10 minutes of requests at a fixed rate while materialization rewrites every entity (SOAK_ARGS)
	$(PY) -m benchmarks.serving_soak $(SOAK_ARGS)

training-set: setup ## build a training set with spark-submit (REPO, ENTITIES, FEATURE_SERVICE, OUTPUT)
	$(SPARK_SUBMIT) $(if $(MASTER),--master $(MASTER)) jobs/build_training_set.py --repo $(REPO) --entities $(ENTITIES) \
		--feature-service $(FEATURE_SERVICE) --output $(OUTPUT) --overwrite

materialize: setup ## materialize incrementally up to END with spark-submit (REPO, END)
	$(SPARK_SUBMIT) $(if $(MASTER),--master $(MASTER)) jobs/materialize.py materialize-incremental $(END) --repo $(REPO)

serve: setup ## serve online features over HTTP on 127.0.0.1:6566 (REPO, WORKERS)
	$(VENV)/bin/featurestore serve --repo $(REPO) --workers $(WORKERS)

redis-up: ## start a local redis-server on 127.0.0.1:$(REDIS_PORT) for trying the Redis online store
	mkdir -p .redis
	redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --save '' --appendonly no --dir .redis \
		--daemonize yes --pidfile $(abspath .redis/redis.pid) --logfile $(abspath .redis/redis.log)
	@echo "redis-server on 127.0.0.1:$(REDIS_PORT); set online_store: {type: redis, port: $(REDIS_PORT)}"

redis-down: ## stop the redis-server started by redis-up
	-test -f .redis/redis.pid && kill $$(cat .redis/redis.pid) && rm -f .redis/redis.pid

cluster-up: setup ## start a local Spark standalone cluster: master 127.0.0.1:7077 and two workers (logs in .cluster/)
	$(PY) -m featurestore.runtime.cluster up --state-dir .cluster --workers 2

cluster-down: ## stop the local Spark standalone cluster
	$(PY) -m featurestore.runtime.cluster down --state-dir .cluster

postgres-up: setup ## start PostgreSQL on 127.0.0.1:$(POSTGRES_PORT) (state in .postgres/) with a registry and a metastore database
	$(PY) -m featurestore.runtime.postgres up --state-dir .postgres --port $(POSTGRES_PORT)

postgres-down: ## stop the PostgreSQL server started by postgres-up
	$(PY) -m featurestore.runtime.postgres down --state-dir .postgres

kafka-up: setup ## start a Kafka broker (KRaft) on 127.0.0.1:$(KAFKA_PORT) (state in .kafka/) for a KafkaSource
	$(PY) -m featurestore.runtime.kafka up --state-dir .kafka --port $(KAFKA_PORT)

kafka-down: ## stop the Kafka broker started by kafka-up
	$(PY) -m featurestore.runtime.kafka down --state-dir .kafka

metastore-status: ## say whether the shared catalog server (the default) runs, and for which processes
	$(PY) -m featurestore.runtime.metastore_server status

metastore-up: setup ## start a Derby network server on 127.0.0.1:$(METASTORE_PORT) at a fixed port (the default shares one by itself)
	$(PY) -m featurestore.runtime.metastore up --state-dir .metastore --port $(METASTORE_PORT)

metastore-down: ## stop the Derby network server started by metastore-up
	$(PY) -m featurestore.runtime.metastore down --state-dir .metastore

spark-up: setup ## start a Spark Connect server for REPO on 127.0.0.1:$(SPARK_CONNECT_PORT) (pid and log in .spark-connect/)
	$(PY) -m featurestore.runtime.spark_server up --repo $(REPO) --state-dir .spark-connect --port $(SPARK_CONNECT_PORT)

spark-down: ## stop the Spark Connect server started by spark-up
	$(PY) -m featurestore.runtime.spark_server down --state-dir .spark-connect --port $(SPARK_CONNECT_PORT)

proto: ## regenerate the protobuf classes from the .proto files
	$(PY) -m grpc_tools.protoc -I . --python_out=. featurestore/protos/value.proto featurestore/protos/registry.proto featurestore/protos/feast_registry.proto featurestore/protos/legacy_value.proto

clean: ## remove generated files (venv, jars, demo work folder, caches)
	rm -rf $(VENV) $(JARS_DIR) demo_work .pytest_cache build *.egg-info spark-warehouse metastore_db derby.log \
		.cluster .redis .metastore .spark-connect .postgres .kafka
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
