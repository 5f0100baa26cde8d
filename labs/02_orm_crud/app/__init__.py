"""The users API of stage 02."""
