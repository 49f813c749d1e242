from tests.store.databases import db_url, pg_template, pg_url, store  # noqa: F401
