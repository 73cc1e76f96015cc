"""`vitale` subcommands, one plug-in module each (see vitale_host.cli)."""
