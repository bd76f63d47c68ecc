"""simfleet: a simulated Wild Sage fleet (bastion sshd + nodes in Linux namespaces), see docs/simfleet.md."""
