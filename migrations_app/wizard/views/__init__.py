"""The wizard's pages, one module per flow (plus the landing page and Configure Schema)."""
