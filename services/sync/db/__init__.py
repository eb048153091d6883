"""The agency database: typed models, engines and migrations."""
