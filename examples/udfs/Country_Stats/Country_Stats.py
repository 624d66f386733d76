@fused.udf
def udf(n: int = 5, min_population_m: float = 0.0):
    """A File UDF returning a DataFrame: the n most populous countries above a threshold."""
    import pandas as pd

    # Population in millions (rounded, 2023 estimates).
    rows = [
        ("India", 1428.6, "Asia"),
        ("China", 1425.7, "Asia"),
        ("United States", 339.9, "Americas"),
        ("Indonesia", 277.5, "Asia"),
        ("Pakistan", 240.5, "Asia"),
        ("Nigeria", 223.8, "Africa"),
        ("Brazil", 216.4, "Americas"),
        ("Bangladesh", 173.0, "Asia"),
        ("Russia", 144.4, "Europe"),
        ("Mexico", 128.5, "Americas"),
    ]
    df = pd.DataFrame(rows, columns=["country", "population_m", "region"])
    df = df[df.population_m >= min_population_m].head(n).reset_index(drop=True)
    print(f"{len(df)} countries with at least {min_population_m}M people")
    return df
