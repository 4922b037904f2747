"""The HTTP face of a novatui service: Nova's Compute API under /v2.1, a Glance v2 subset
under /image, an identity version document under /identity, and novatui's own extension
under /novatui (the console's records, event stream and log history). aiohttp serves it."""
