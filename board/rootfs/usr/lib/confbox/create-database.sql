-- The confbox database and its account on the system MariaDB (run by confbox-database.service as
-- root). Safe to run again: nothing that exists is changed. The firmware creates its tables itself.
CREATE DATABASE IF NOT EXISTS confbox CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'confbox'@'localhost' IDENTIFIED VIA unix_socket;
GRANT ALL PRIVILEGES ON confbox.* TO 'confbox'@'localhost';
