/// The version `scmi-dt --version` prints, and the one place it is written: the Makefile
/// reads it from here for the man pages and the installed files (docs/serve-choices.md,
/// "Installing"). Raise it with every release; semantic versioning, the stable interfaces
/// being the command line, `tables --format json` and `status --format json`.
let scmiDTVersion = "0.9.0"
