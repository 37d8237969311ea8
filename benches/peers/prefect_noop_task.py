"""The no-op task Prefect's task-worker benchmark serves and delays (importable by both sides)."""
from prefect import task


@task
def noop(i: int) -> int:
    return i
