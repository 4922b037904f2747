"""the schema of the stores made before migrations

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 (the schema of the SQLite stores of novatui 0.1, as one revision)
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('images',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('disk_format', sa.Text(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('checksum', sa.Text(), nullable=False),
    sa.Column('type', sa.Text(), server_default=sa.text("'image'"), nullable=False),
    sa.Column('instance_uuid', sa.Text(), nullable=True),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('properties', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'active'"), nullable=False),
    sa.Column('created_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('instance_action_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.Text(), nullable=False),
    sa.Column('host', sa.Text(), nullable=True),
    sa.Column('start_time', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=False),
    sa.Column('finish_time', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('instance_action_events', schema=None) as batch_op:
        batch_op.create_index('events_action', ['action_id'], unique=False)

    op.create_table('instance_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Text(), nullable=False),
    sa.Column('instance_uuid', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Text(), nullable=True),
    sa.Column('project_id', sa.Text(), nullable=True),
    sa.Column('start_time', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=False),
    sa.Column('finish_time', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id')
    )
    with op.batch_alter_table('instance_actions', schema=None) as batch_op:
        batch_op.create_index('actions_instance', ['instance_uuid'], unique=False)

    op.create_table('instance_faults',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_uuid', sa.Text(), nullable=False),
    sa.Column('code', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('host', sa.Text(), nullable=True),
    sa.Column('request_id', sa.Text(), nullable=True),
    sa.Column('created_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('instance_faults', schema=None) as batch_op:
        batch_op.create_index('faults_instance', ['instance_uuid'], unique=False)

    op.create_table('instances',
    sa.Column('uuid', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('flavor', sa.Text(), nullable=False),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('memory_mb', sa.Integer(), nullable=False),
    sa.Column('root_gb', sa.Integer(), nullable=False),
    sa.Column('image', sa.Text(), nullable=True),
    sa.Column('image_id', sa.Text(), nullable=True),
    sa.Column('vm_state', sa.Text(), nullable=False),
    sa.Column('task_state', sa.Text(), nullable=True),
    sa.Column('power_state', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('host', sa.Text(), nullable=True),
    sa.Column('availability_zone', sa.Text(), nullable=True),
    sa.Column('ip', sa.Text(), nullable=True),
    sa.Column('locked', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('locked_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=False),
    sa.Column('launched_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=True),
    sa.Column('updated_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=True),
    sa.Column('deleted_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=True),
    sa.Column('sys_meta', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('uuid')
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('instances_host', ['host'], unique=False, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.create_index('instances_name', ['name'], unique=False)
        batch_op.create_index('instances_updated', ['updated_at'], unique=False)

    op.create_table('ip_allocations',
    sa.Column('network', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('instance_uuid', sa.Text(), nullable=False),
    sa.Column('allocated_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('network', 'address')
    )
    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=False),
    sa.Column('claimed_by', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('messages_topic', ['topic', 'claimed_by'], unique=False)

    op.create_table('migrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_uuid', sa.Text(), nullable=False),
    sa.Column('migration_type', sa.Text(), nullable=False),
    sa.Column('source_host', sa.Text(), nullable=True),
    sa.Column('dest_host', sa.Text(), nullable=True),
    sa.Column('old_flavor', sa.Text(), nullable=True),
    sa.Column('new_flavor', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('held_host', sa.Text(), nullable=True),
    sa.Column('held_vcpus', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('held_memory_mb', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('held_root_gb', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('request_id', sa.Text(), nullable=True),
    sa.Column('created_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=False),
    sa.Column('updated_at', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=False),
    sa.Column('disk_size', sa.Integer(), nullable=True),
    sa.Column('disk_sha256', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('migrations', schema=None) as batch_op:
        batch_op.create_index('migrations_instance', ['instance_uuid'], unique=False)

    op.create_table('services',
    sa.Column('host', sa.Text(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.Column('heartbeat', sa.Double().with_variant(sa.REAL(), 'sqlite'), nullable=True),
    sa.Column('disabled', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('forced_down', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('uri', sa.Text(), nullable=True),
    sa.Column('vcpus', sa.Integer(), nullable=True),
    sa.Column('memory_mb', sa.Integer(), nullable=True),
    sa.Column('disk_gb', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('host')
    )


def downgrade() -> None:
    op.drop_table('services')
    with op.batch_alter_table('migrations', schema=None) as batch_op:
        batch_op.drop_index('migrations_instance')

    op.drop_table('migrations')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('messages_topic')

    op.drop_table('messages')
    op.drop_table('ip_allocations')
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('instances_updated')
        batch_op.drop_index('instances_name')
        batch_op.drop_index('instances_host', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.drop_table('instances')
    with op.batch_alter_table('instance_faults', schema=None) as batch_op:
        batch_op.drop_index('faults_instance')

    op.drop_table('instance_faults')
    with op.batch_alter_table('instance_actions', schema=None) as batch_op:
        batch_op.drop_index('actions_instance')

    op.drop_table('instance_actions')
    with op.batch_alter_table('instance_action_events', schema=None) as batch_op:
        batch_op.drop_index('events_action')

    op.drop_table('instance_action_events')
    op.drop_table('images')
