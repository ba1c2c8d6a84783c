"""NeuTTS Air backend, with tiny random-weight models built by fixtures."""
