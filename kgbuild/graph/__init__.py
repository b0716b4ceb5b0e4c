"""Graph assembly (NetworkX) and exports."""
