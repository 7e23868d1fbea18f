"""The console pages; each has its calls (what to fetch) and its render function."""
