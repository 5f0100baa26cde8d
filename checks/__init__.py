"""The workbook's autograder: pytest checks that grade a target's stages against PostgreSQL."""
