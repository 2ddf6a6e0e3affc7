"""`make bench`: webhook intake and task-cluster throughput on PostgreSQL (see run.py)."""
