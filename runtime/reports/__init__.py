"""The report engine: widget configurations checked against the model, compiled into
the store's grouped queries (``Repository.aggregate``) with the viewer's scope, cached
by the versions of the entities they read, and turned into ECharts options.

Nothing here knows Flask: ``runtime.features.reports`` serves it."""
