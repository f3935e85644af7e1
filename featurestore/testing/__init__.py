"""Test support shipped with the package, as Delta ships delta/testing/utils.py: feature
repos written in one call (repos.py) and a throwaway redis-server (redis.py), for the test
suite, the benchmarks and users' own tests. Nothing here imports pytest."""
