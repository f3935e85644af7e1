"""The feature server (`featurestore serve`): Feast's HTTP endpoints over the online store,
in pure Python. api.py holds the endpoints, http.py the server, metrics.py its metrics."""
