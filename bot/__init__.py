"""What the bot knows, free of Slack and SQL: the ladder, the cost model, drafting, the digest."""
