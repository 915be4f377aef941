using ManagedEmbed.Cli;

return Cli.Run(args);
