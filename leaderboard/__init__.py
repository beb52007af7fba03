"""The leaderboard generator: reads result files only (each carries its encoder's metadata), never torch."""
