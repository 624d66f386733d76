"""`fused._h3`: the `fused` package's H3 ingestion subsystem, which fused-rs does not provide.

It runs batch jobs on Fused's cloud (ingesting rasters into H3-indexed Parquet on its
object storage); fused-rs has no such service, so importing any of its names fails with an
ImportError that says so, instead of a bare "No module named".
"""

_WHY = (
    "fused-rs does not provide the fused package's H3 ingestion subsystem (fused._h3): it "
    "runs ingestion jobs on Fused's cloud storage and batch service, which a self-hosted "
    "fused-rs server does not have. Run the ingestion code as a UDF over your own files instead."
)


def __getattr__(name: str) -> object:
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"cannot import fused._h3.{name}: {_WHY}", name=f"fused._h3.{name}")
