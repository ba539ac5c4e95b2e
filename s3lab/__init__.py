"""s3lab: learn S3 object storage from the aws command, boto3 and a mounted folder.

The public API is written once, in ``__init__.pyi`` beside this file: exactly the names the
notebooks use (a test checks both ways). A reader who wonders what ``s3lab.put`` does finds
``from .buckets.transfer import put`` there, and ``put`` near the top of that file.

The library has a package per job, mirroring the command's ``cli/`` (one module per job); shared
infrastructure sits beside them. Nothing below reads where requests go from the environment:
``backends.resolve`` does, once, and the ``Backend`` it returns is passed down.

==========================  ==========================================================
shared
``settings``                every ``S3LAB_*`` variable, read in one function
``errors``                  the exception family and the one table from AWS errors to fixes
``processes``               start a child, and signal it only while it is still that child
``clients``                 the one client factory: s3lab's timeouts and retries
``statefiles``              state files written atomically, read warily, updated under a lock
``backends``                where requests go, resolved once into a ``Backend``
``sandbox/``                the local S3 servers
  ``__init__``              start, stop, find the running ones (moto, SeaweedFS, Ceph)
  ``servers``, ``ports``    their command lines; free ports on 127.0.0.1
  ``ceph``                  a one-node Ceph with its S3 gateway, to rehearse Kopah
  ``imds``                  a stand-in for EC2's instance metadata service (IMDSv2)
``configure/``              profiles and checks
  ``__init__``              profiles: your keys, Kopah, the sandbox
  ``awsfiles``              the ``~/.aws`` files, written as ``aws configure`` writes them
  ``regions``               region names, checked offline, with "did you mean"
  ``doctor``                the ordered checks, each with a fix
``buckets/``                buckets and objects
  ``__init__``              make, list, remove, clean up
  ``names``                 bucket naming rules and unique names
  ``transfer``              put, get, sync
  ``localfiles``            what cannot be copied to or from here, and why
  ``uploads``               the big uploads in flight, so that none stays open
  ``copy``                  a bucket from one store to another, streamed, resumable, verified
  ``cost``                  prices as data, and the arithmetic
``install/``                the AWS CLI, Mountpoint and the alternatives
  ``__init__``              plan and run an install
  ``machine``               what this machine is and has (OS, architecture, programs)
  ``download``              downloads that resume, signatures, archives
  ``plans``, ``tools``      what a plan is made of; the plan for each tool
``mount/``                  a bucket as a folder
  ``__init__``              mount, unmount, the records of mounts
  ``tools``                 each mount program's command line
  ``semantics``             what a mount does with an append, a rename... (data)
``classroom/``              a class on the SeaweedFS sandbox, a key per learner
  ``__init__``              the keys, status, checks, stop and clean-up
  ``hub``                   a JupyterHub for the class: users, passwords, its config
  ``console``               the instructor's page, a hub service: status and checks
``checks``                  the exercises and their self-checks
``notebooks``               run every notebook against a backend, then clean up; the policy
``cli/``                    the ``s3lab`` command, a module per job: the only code that prints
==========================  ==========================================================
"""

import lazy_loader

# Importing s3lab imports none of the names' modules: the first use of ``s3lab.put`` imports
# ``s3lab.buckets.transfer`` (PEP 562), so ``s3lab bucket remove`` pays only for what it uses.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
