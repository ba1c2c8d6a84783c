"""Platform adapters: translate platform objects to neutral events and actions back."""
