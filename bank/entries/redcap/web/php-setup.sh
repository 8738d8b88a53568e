#!/bin/sh
# PHP extensions and settings REDCap needs, on the official php:*-apache image.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	libzip-dev libpng-dev libjpeg62-turbo-dev libfreetype6-dev msmtp
docker-php-ext-configure gd --with-freetype --with-jpeg
docker-php-ext-install -j"$(nproc)" mysqli gd zip
apt-get clean
rm -rf /var/lib/apt/lists/*
cp /usr/local/share/dockerbank/redcap.ini "$PHP_INI_DIR/conf.d/redcap.ini"
