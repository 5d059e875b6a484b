"""A live campaign on the bench beside the simulator's prediction for the same settings."""
