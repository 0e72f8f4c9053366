// What the box says when MariaDB's installer fails on first start: the server's own errors, not the installer's advice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { installerErrors } from '../../firmware/store/embedded.ts';

/** mariadb-install-db 10.11 failing (here: a buffer pool larger than the machine), as it prints it. */
const FAILED = `Installing MariaDB/MySQL system tables in '/var/lib/confbox/mariadb/data.installing' ...
2026-12-05  8:14:22 0 [ERROR] mariadbd: Out of memory (Needed 0 bytes)
2026-12-05  8:14:22 0 [ERROR] InnoDB: Cannot map innodb_buffer_pool_size_max=8388608m
2026-12-05  8:14:22 0 [ERROR] InnoDB: Database creation was aborted with error Generic error. You may need to delete the ibdata1 file before trying to start up again.
2026-12-05  8:14:22 0 [ERROR] Plugin 'InnoDB' registration as a STORAGE ENGINE failed.
2026-12-05  8:14:22 0 [ERROR] Unknown/unsupported storage engine: InnoDB
2026-12-05  8:14:22 0 [ERROR] Aborting

Installation of system tables failed!  Examine the logs in
/var/lib/confbox/mariadb/data.installing for more information.

The problem could be conflicting information in an external
my.cnf files. You can ignore these by doing:

    shell> /usr/bin/mariadb-install-db --defaults-file=~/.my.cnf

You can also try to start the mariadbd daemon with:

    shell> /usr/sbin/mariadbd --skip-grant-tables --general-log &

and use the command line tool /usr/bin/mariadb
to connect to the mysql database and look at the grant tables:

    shell> /usr/bin/mariadb -u root mysql
    MariaDB> show tables;

Try '/usr/sbin/mariadbd --help' if you have problems with paths.  Using
--general-log gives you a log in /var/lib/confbox/mariadb/data.installing that may be helpful.

The latest information about mysql_install_db is available at
https://mariadb.com/docs/server/clients-and-utilities/deployment-tools/mariadb-install-db
You can find the latest source at https://downloads.mariadb.org and
the MariaDB discuss email list at https://lists.mariadb.org/postorius/lists/discuss.lists.mariadb.org/

Please check all of the above before submitting a bug report
at https://mariadb.org/jira

`;

test('the [ERROR] lines of a failed install are kept; the closing advice is not', () => {
  const said = installerErrors(FAILED);
  assert.match(said, /\[ERROR\] InnoDB: Cannot map innodb_buffer_pool_size/);
  assert.match(said, /Installation of system tables failed/);
  assert.not.match(said, /show tables|bug report|downloads\.mariadb\.org/);
});

test('output without error lines: its last lines', () => {
  assert.is(installerErrors('one\ntwo\nthree\n'), 'one\ntwo\nthree');
});

test.run();
