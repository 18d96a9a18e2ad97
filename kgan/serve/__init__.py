"""``kgan serve``: a local web page to watch runs learn and explore their generators."""
