"""The `tpstore` command line: inspect, export, import, check and maintain store files.

- `commands`: the argument parser and one function per command (`main` is the entry
  point of `python -m tpstore` and the `tpstore` console script);
- `storefile`: a store file opened from its catalog alone, through the backend seam;
- `salvage`: reading the rows of a physically damaged file, around the damage;
- `load_input`: the input of `tpstore load`, in either dump format;
- `values`: how stored values become JSON and back, knowing only the catalog;
- `ui`: output for terminals (tables, progress) and for scripts.

Nothing here is public Python API (hence the leading underscore): the command line is
the interface (`docs/cli.md`).
"""
