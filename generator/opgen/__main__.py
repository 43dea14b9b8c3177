from opgen.cli import main

main(prog_name="opgen")
