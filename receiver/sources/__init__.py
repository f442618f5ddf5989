"""Where deliveries come from: the HTTP callback endpoint and the MNS queue poller."""
