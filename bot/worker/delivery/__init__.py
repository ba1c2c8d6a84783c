"""Worker-side delivery of results to the chat platforms over their HTTP APIs."""
