"""Install and authenticate like a Shopify app: token exchange, code grant, session tokens, tokens.

Public surface: decorators.shop_required / current_shop / current_shop_id;
session_token.verify_session_token; tokens.get_access_token / refresh_access_token / AuthRevoked;
views.bp (routes; headers' CSP hook is registered on it). Install and uninstall live in
posai_app.shops.lifecycle. Nothing outside this package imports shopify_app.
"""
