export { BACKUP_FORMAT, BACKUP_VERSION, readBackup, summary, writeBackup, type BackupSummary } from './backup-file.ts';
