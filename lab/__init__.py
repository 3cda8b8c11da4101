"""Tooling for the local lab: base images, the Docker engine, the lab's state file.

The lab hosts themselves are created by Ansible (lab/create.yml) from the inventory;
this package only prepares what that playbook needs and reads what it recorded.
"""
