@fused.udf
def udf(package: dict = None):
    """The Workbench's signature probe: the entrypoint parameters of `package` (name, type
    spec, default), found by the same rules the SDK uses when it saves a UDF."""
    import datetime
    import json

    from fused._execute import prepare
    from fused._load import udf_from_package

    target = udf_from_package(package)
    prepared = prepare(target)

    def plain(value):
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        try:
            return json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError):
            return repr(value)

    return {
        "name": target.name,
        "entrypoint": prepared.entrypoint,
        "parameters": [
            {
                "name": p.name,
                "spec": p.spec,
                "required": p.name in prepared.required,
                "default": plain(p.default),
            }
            for p in prepared.parameters.values()
        ],
    }
