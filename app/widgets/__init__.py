"""Small reusable widgets shared by the panels (input hygiene, log view, plots)."""
