"""Everything that talks to Shopify's Admin API lives here (GraphQL client, bulk operations)."""
