"""claimscan: flags compliance risks in health-marketing copy, sentence by sentence."""

__version__ = "0.1.0"
API_VERSION = "1"
