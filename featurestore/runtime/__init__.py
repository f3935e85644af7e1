"""Process plumbing: the servers featurestore starts and stops for a repo or a test run, and
the pid and port helpers they share (PostgreSQL here; Spark, the Derby metastore servers,
the cluster and Spark Connect still live at the package root). Nothing here is about
features; nothing here imports pyspark."""
