"""`posai demo`: the whole product on a real store's history, in one command.

Imports the shipped Online Retail history (UCI, CC BY 4.0) as the shop
`posai-demo.myshopify.com` through the same ingestion code webhooks and sync use,
trains it with the same job, and serves the app with gunicorn. The only
demo-specific behaviour in the app is local (non-iframe) access to the demo
shop's admin page when POSAI_DEMO=1, refused in production.
"""

DEMO_SHOP_DOMAIN = "posai-demo.myshopify.com"
