"""Sessions, turns and CVs in SQL (SQLite by default, PostgreSQL when scaled out)."""
