"""The evaluation benchmark (评价基准): chengyun against hand-written DuckDB SQL and pandas (``make bench``)."""
