"""The console pages; each has its calls (what to fetch) and its render function.

(Not named ``pages``: Streamlit would list a ``pages/`` folder beside the script as extra pages.)
"""
