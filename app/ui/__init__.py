"""Streamlit dashboard: router orders, sweep jobs, probabilistic frames, risk state."""
