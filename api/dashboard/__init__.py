"""The dashboard's pages and assets (``static/``), served by ``api.routes.dashboard`` and
installed with the package (``pyproject.toml``'s package data): no CDN, no Node.js."""
