"""The shop, from install to deletion: everything POSAI knows about a tenant as a whole.

- `lifecycle`: install (token exchange and code grant both end here), uninstall, shop and
  customer redaction, deleting a shop's data;
- `settings`: the merchant's settings, their defaults and rules, and atomic changes;
- `snapshot`: the calling shop as the request path needs it, cached per process.

Other features call these; nothing here knows about HTTP.
"""
