<?php
// Written by dockerbank. REDCap reads its database connection from this file.
// Passwords come from the secret files that compose mounts under /run/secrets,
// never from the image or the environment.

$hostname = getenv('REDCAP_DB_HOST') ?: 'db';
$db       = getenv('REDCAP_DB_NAME') ?: 'redcap';
$username = getenv('REDCAP_DB_USER') ?: 'redcap';
$password = trim((string) @file_get_contents('/run/secrets/db_password'));

// The salt must be set before install.php runs and never change afterwards.
$salt = trim((string) @file_get_contents('/run/secrets/redcap_salt'));
