"""Jobs pages: the Jobs page (page.py), View Details and its log (detail.py), Cancel and Retry
(actions.py). Every view starts with the access helper: outsiders get 404, watchers 403 on
Cancel and Retry."""
