<?php
// dockerbank health probe: Apache serves and PHP runs.
header('Content-Type: text/plain');
echo "ok\n";
